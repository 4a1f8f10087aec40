"""The peers benchmark: the same work through this framework and through its peers."""
