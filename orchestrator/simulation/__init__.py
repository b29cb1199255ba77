"""A simulated farm that runs the same pure core and policy as the live one."""
