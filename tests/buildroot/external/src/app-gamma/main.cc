#include <gamma.hh>
#include <iostream>
int main(int argc, char **argv) {
    gamma_ns::Greeter g(argv[0]);
    std::cout << g.greet(std::vector<std::string>(argv + 1, argv + argc)) << "\n";
    return 0;
}
