"""Another app's ``jobs.py`` (django-extensions' jobs use this name): tablecron must not
import it, so tests check that it stays out of ``sys.modules``."""
