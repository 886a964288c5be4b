/* A stand-in for bcryptprimitives.dll, which Wine 8.0 lacks and Rust's std
 * imports ProcessPrng from. Only the Windows test run under Wine uses it; on
 * Windows the system's own DLL is loaded. It forwards to RtlGenRandom
 * (advapi32's SystemFunction036), the generator Wine does have. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
