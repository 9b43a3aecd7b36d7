"""Clientfolio's command line and process supervisor."""
