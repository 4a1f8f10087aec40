"""An example shop service: products, accounts and orders over FastAPI and the ORM kit."""
