"""The farm's settings, prices and farm-config files: read once, passed explicitly."""
