static inline int hdr_answer(void) { return 42; }
