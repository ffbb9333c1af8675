#ifndef GAMMA_HH
#define GAMMA_HH
#include <string>
#include <vector>
namespace gamma_ns {
class Greeter {
public:
    explicit Greeter(std::string name);
    std::string greet(const std::vector<std::string> &who) const;
private:
    std::string name_;
};
}
#endif
