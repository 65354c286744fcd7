"""End-to-end workflows composed from the other packages (the jobs and demos run these)."""
