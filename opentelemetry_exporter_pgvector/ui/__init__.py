"""``otel-pgvector ui``: a local, read-only web UI over ``TelemetryQuery`` (the ``ui`` extra).

``app.py`` builds the Starlette application and its safety defaults, ``server.py`` serves it
on 127.0.0.1; the pages (``trace_pages``, ``service_pages``, ``signal_pages``, ``sql_page``)
read their filters from the query string (``forms.py``), ask ``TelemetryQuery`` and render
templates (``render.py``), with pictures drawn as inline SVG from ``charts.py``. The script
and stylesheet in ``static/`` are shipped in the package: no CDN, no build step.
"""
