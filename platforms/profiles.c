/* The ordered list of vendor profiles. A new vendor is one profile_*.c file
 * and one line here; generic stays last because it matches everything. */
#include <ctype.h>

#include "profile.h"

static const duo_profile *const profiles[] = {
    &duo_profile_oclgrind,
    &duo_profile_intel_fpga, /* before intel: the same vendor, another kind of device */
    &duo_profile_xilinx,
    &duo_profile_pocl, /* before the GPU vendors: PoCL also drives some of their devices */
    &duo_profile_nvidia,
    &duo_profile_amd,
    &duo_profile_intel,
    &duo_profile_generic,
};

const duo_profile *duo_profile_for(const duo_device_info *device)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (profiles[i]->matches(device))
            return profiles[i];
    return &duo_profile_generic;
}

bool duo_text_contains(const char *haystack, const char *needle)
{
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (needle[i] && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (!needle[i])
            return true;
    }
    return !*needle;
}

bool duo_text_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}
