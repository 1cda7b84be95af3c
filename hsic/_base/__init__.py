"""The bottom layer: argument checks, randomness, precision, devices and file reading.

Nothing here knows about kernels or statistics. Every other layer of ``hsic`` may import from
here; this package imports nothing else of ``hsic``.
"""
