"""Benchmarks, the soak and the throwaway servers they run on; not part of the installed package."""
