"""The site: pages that compose several domain apps (home page, dashboard, navigation, the
demo seeding command). It is the top layer: it may import every domain app and none imports it.

Named ``website`` rather than ``site`` because Python's standard library has a ``site`` module
that the interpreter imports at start-up; a project package of that name would shadow it.
"""
