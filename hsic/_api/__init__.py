"""The API layer: the method objects, the result objects, and the functions users call
(``hsic.hsic``, ``hsic.nhsic``, ``hsic.test``, ``hsic.joint_test``, ``hsic.conditional_test``,
``hsic.pairwise``) with the figures of their results.

Each function validates its arguments, prepares the data once, and composes ``hsic._stats``
and ``hsic._nulls``; nothing here computes a statistic or a null by itself.
"""
