// cpp-httplib as Debian builds it: the header declares, libcpp-httplib.so
// implements, and the class layouts depend on these switches, so every file
// that includes <httplib.h> must see the same ones the library was built with
// (pkg-config --cflags cpp-httplib).
#pragma once

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
