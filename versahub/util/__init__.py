"""Small helpers every part of VersaHub shares: one of each, no VersaHub imports.

``files`` (atomic writes with one mode policy, a cross-process lock), ``net``
(``host:port`` parsing). Nothing here knows about specs, sites or the hub.
"""
