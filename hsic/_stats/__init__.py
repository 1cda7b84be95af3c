"""The statistics layer: distances and the median heuristic, kernels, Gram matrices and their
centred sums, NOCCO, feature maps (RFF, Nyström), block HSIC and dHSIC.

Everything here computes a statistic from data or from Gram matrices; nothing draws a null or
builds a result. It imports only ``hsic._base``.
"""
