# Host tests of the purgatory core (SHA-256, report, console formatting).
