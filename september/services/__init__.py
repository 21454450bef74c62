"""Services: the work september does, combining science code with the catalogue."""
