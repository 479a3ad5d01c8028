"""LMS integration: class rosters, LMS downloads in, LMS gradebooks out."""
