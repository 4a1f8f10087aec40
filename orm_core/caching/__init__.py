"""Read-through caching of repository reads, invalidated by table versions (docs/cache.md).

Nothing is imported here, so `orm_core.database` can import the pieces it needs
without the package pulling in the unit of work; the public names are exported by
`orm_core` itself.
"""
