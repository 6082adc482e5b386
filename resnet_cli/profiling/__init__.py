"""``profile``: measuring where the time goes (the profiler run, attribution to modules, the bandwidth kernel)."""
