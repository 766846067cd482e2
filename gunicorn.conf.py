"""gunicorn settings read from the working directory (``make run``, the Procfile).

The access log format leaves out gunicorn's default ``%(u)s`` (the Basic-auth user name, half of
Postmark's webhook credential), the query string (``%(U)s`` is the path only: a key pasted into a
URL stays out of the logs), the referrer and the request headers. It keeps who, when, what, the
outcome, the size, the time taken (seconds) and the request id the app assigns.
"""

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s" %({x-request-id}o)s'
