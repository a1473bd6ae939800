"""Framework adapters: one small module per framework mapping the primitive set
(``advloss.backend.Backend``) onto that framework's numerically stable ops.

Importing this package imports no framework; ``advloss.backend.get_backend`` imports an
adapter (and its framework) the first time it is needed.  No loss logic lives here.
"""
