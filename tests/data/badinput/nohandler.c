/* A valid server object without any handle_request. */
int main(void)
{
	return 0;
}
