"""Reference GAN trainers that use advloss: ``python -m reference_trainers.dcgan``.

They show every advloss loss and regularizer in real training on data that works offline
(scikit-learn's bundled digits), with real metrics, resumable runs and the balance diagnostics.
The training step is kept short on purpose: it is the part to copy into your own loop.
"""
