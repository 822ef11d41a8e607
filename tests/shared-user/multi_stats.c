/* multi_stats.c - reads the entry object's global by name: a root in
 * another object (or, in an archive, a refusal). */
extern long served;

long stats_get(void)
{
	return served * 2;
}
