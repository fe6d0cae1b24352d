"""The strategy x model x seed experiment grid: run (grid), cached cells (outputs), statistics
(stats), the report and plots (report), and the worker process the app starts (worker)."""
