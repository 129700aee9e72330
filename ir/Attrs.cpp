// Names of parameter initialisers.
#include "ir/Attrs.h"

namespace kiln {

namespace {
constexpr std::pair<Init, std::string_view> kInitNames[] = {
    {Init::Zeros, "zeros"},           {Init::Ones, "ones"},
    {Init::Normal, "normal"},         {Init::Uniform, "uniform"},
    {Init::HeUniform, "he_uniform"},  {Init::HeNormal, "he_normal"},
    {Init::XavierUniform, "xavier_uniform"}, {Init::XavierNormal, "xavier_normal"},
};
}  // namespace

std::string_view initName(Init i) {
  for (auto& [k, n] : kInitNames)
    if (k == i) return n;
  return "?";
}

std::optional<Init> parseInit(std::string_view name) {
  for (auto& [k, n] : kInitNames)
    if (n == name) return k;
  return std::nullopt;
}

}  // namespace kiln
