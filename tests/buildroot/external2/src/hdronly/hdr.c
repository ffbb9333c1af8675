int hdr_static(void) { return 7; }
