"""Executors beyond the local one (``runner.LocalExecutor``): each is one module here plus one
entry in ``runner.EXECUTORS``. They run ``runner.run_experiment``-equivalent work elsewhere and
hand results back to the driver, which alone writes the store."""
