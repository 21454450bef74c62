"""Reports people look at: night summaries and HTML pages with plots."""
