"""The office's overview as files: the HTML page and the iCalendar of deadlines.

Rendering only: it takes the :mod:`exactlink.domain.overview` records the services gathered and touches neither
the database nor the network.
"""
