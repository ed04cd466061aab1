/* Stub for std::ios_base_library_init() (GCC 13+, GLIBCXX_3.4.32). With GCC <= 12's libstdc++
   the standard streams are initialised by ios_base::Init objects, so a no-op is enough. */
void _ZSt21ios_base_library_initv(void) {}
