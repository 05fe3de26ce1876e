"""Benchmarks: a score measured on a schedule against a per-owner baseline and a threshold.

`spec` parses what users type, `workloads` measures, `scoring` judges a score against its
baseline, `runner` schedules them inside the engine (through the `ports` it declares);
engine.store.benchmarks keeps benchmarks and their runs sealed.
"""
