# Host tests of the plugin (ELF loader, stock segment decoding).
