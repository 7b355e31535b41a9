"""Team use: the roles (Django groups of our permissions), what each change needs, and the
audit trail every change through the app leaves."""
