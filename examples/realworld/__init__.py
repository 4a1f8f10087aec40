"""A RealWorld (Conduit) backend: users, profiles, articles, favorites, comments and tags."""
