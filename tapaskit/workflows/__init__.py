"""What a user runs: each workflow loads what it needs, runs, tracks in MLflow and records in the LDE.

- :mod:`~tapaskit.workflows.characterize`: ``tapas characterize`` (the DCN, cached in the LDE);
- :mod:`~tapaskit.workflows.train`: ``tapas train`` (one real training, recorded);
- :mod:`~tapaskit.workflows.search`: ``tapas search`` (the :class:`Search` steps and its typed
  :class:`SearchResult`);
- :mod:`~tapaskit.workflows.campaign`: ``tapas lde seed`` (the campaign the default LDE is made of).

Workflows are the top of the package: they may import every other room; nothing below imports them.
"""
