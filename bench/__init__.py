"""Benchmarks: ``python -m bench`` runs every ``bench_*.py`` module's ``main()``, ``python -m bench NAME`` one.

Each ``main()`` prints its figures and returns 0 when its goal is met, 1 when not.
The figures and the commands go in docs/performance.md.
"""
