"""VersaHub's launch page, risk dialog and their small REST API, inside JupyterHub.

Everything here plugs into stock JupyterHub through its own extension points:
``template_paths`` (``templates/home.html`` replaces the stock home page after login),
``extra_handlers`` (``handlers``: launch links, the check and trust APIs, static files) and
``template_vars`` (site name, documentation, warnings, credits, volumes, catalogue).
``config.web_settings`` returns those traitlets as plain data for the site's hub config.

Pure parts: ``summary`` (the configuration in plain words), ``origin`` (does a request come
from outside the hub?), ``catalogue`` (site.yaml's preconfigured servers). I/O: ``trust``
(the "don't ask again" store, one JSON file written atomically) and ``handlers``.

The page previews; the hub enforces: nothing here may start a server or skip a
confirmation by itself — a launch always goes through the spawner, which re-asks OPA.
"""
