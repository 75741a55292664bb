"""swarm-bench's harness: how points are run and measured, one sub-package per concern.

    run/       the command line, config schema, sweep runner, launchers, process isolation
    tasks/     what a point's child process runs (forward/train, decode, quality, ...)
    measure/   trackers (latency, peak memory, energy), statistics, environment, NVML
    store/     points and their ids, the results store and its schema
    quality/   corpus, tokenizer, training and evaluation for the quality suite
    analysis/  regression gate, claims ledger, quality report

Layers import only downward: run -> suites -> tasks -> quality -> measure/store -> models
(`tests/test_layers.py` keeps it so). `errors` is the one leaf every layer may use.
"""
