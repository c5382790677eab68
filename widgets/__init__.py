"""Textual widgets of the console: the virtualised table, header, bars. They receive plain data only."""
