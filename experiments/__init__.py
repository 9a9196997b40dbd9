"""Reproductions of the ALinFiK paper's evaluation on the demo corpora.

Every experiment is a module runnable alone (``python -m experiments.<name> [--quick]``);
``python -m experiments.run_all`` runs them in order and renders ``docs/evaluation.md``.
"""
