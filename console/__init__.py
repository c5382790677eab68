import logging

logging.getLogger("gpuconsole").addHandler(logging.NullHandler())  # no stderr echo unless a handler is set up
