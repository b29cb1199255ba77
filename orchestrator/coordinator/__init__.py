"""The coordinator: the interpreter loop around the pure core, the orders it sends nodes, and how node failures are classified."""
