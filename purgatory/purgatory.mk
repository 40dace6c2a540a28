# purgatory build
