int sym(void) { return 1; }
