#include "gamma.hh"
#include <sstream>
namespace gamma_ns {
Greeter::Greeter(std::string name) : name_(std::move(name)) {}
std::string Greeter::greet(const std::vector<std::string> &who) const {
    std::ostringstream out;
    out << name_ << ":";
    for (const auto &w : who) out << " " << w;
    return out.str();
}
}
