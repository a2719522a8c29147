//! Reading the derives' attributes, and the names they give.

use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitStr, Token};

/// Most fields in a kind, an event or an input (`MAX_FIELDS` and
/// `MAX_INPUT_FIELDS` of `tickwire-types`).
pub const MAX_FIELDS: usize = 8;

/// Most kinds of row or event: their ids are a `u8`.
pub const MAX_KINDS: usize = 256;

/// Most buttons in one `#[buttons(...)]` field (`MAX_BUTTONS`).
pub const MAX_BUTTONS: usize = 16;

/// `snake_case` of a Rust `CamelCase` name: `ProjectileHit` is
/// `projectile_hit`, `HTTPPing` is `http_ping`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) => {
                    p.is_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
                }
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The name `#[tickwire(name = "...")]` gives, if any.
pub fn renamed(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("tickwire")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(meta.error("the name must not be empty"));
                }
                name = Some(lit.value());
                Ok(())
            } else {
                Err(meta.error("expected `name = \"...\"`"))
            }
        })?;
    }
    Ok(name)
}

/// The wire name of an item: its `#[tickwire(name = "...")]`, or the snake
/// case of its identifier.
pub fn item_name(ident: &Ident, attrs: &[Attribute]) -> syn::Result<String> {
    Ok(renamed(attrs)?.unwrap_or_else(|| snake_case(&ident.to_string())))
}

/// The wire name of a field: its `#[tickwire(name = "...")]`, or its
/// identifier (raw identifiers without their `r#`).
pub fn field_name(ident: &Ident, attrs: &[Attribute]) -> syn::Result<String> {
    use syn::ext::IdentExt;
    Ok(renamed(attrs)?.unwrap_or_else(|| ident.unraw().to_string()))
}

/// How a field of a row or an event goes on the wire.
pub enum Wire {
    /// `#[fixed(scale)]`.
    Fixed(Expr),
    /// `#[angle(steps)]`.
    Angle(Expr),
    /// `#[int(min, max)]`.
    Int(Expr, Expr),
    /// No attribute: the type's own range ([`IntField`]).
    Plain,
}

/// The two expressions of `#[int(min, max)]` (or any two-argument
/// attribute).
pub fn two_args(attr: &Attribute) -> syn::Result<(Expr, Expr)> {
    let args = attr.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated)?;
    let mut it = args.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(a), Some(b), None) => Ok((a, b)),
        _ => Err(syn::Error::new(
            attr.span(),
            "expected two arguments: #[int(min, max)]",
        )),
    }
}

/// The wire attribute of a row's or an event's field.
pub fn wire(attrs: &[Attribute]) -> syn::Result<Wire> {
    let mut found: Option<(Wire, &Attribute)> = None;
    for attr in attrs {
        let wire = if attr.path().is_ident("fixed") {
            Wire::Fixed(attr.parse_args()?)
        } else if attr.path().is_ident("angle") {
            Wire::Angle(attr.parse_args()?)
        } else if attr.path().is_ident("int") {
            let (min, max) = two_args(attr)?;
            Wire::Int(min, max)
        } else {
            continue;
        };
        if found.is_some() {
            return Err(syn::Error::new_spanned(
                attr,
                "a field takes one of #[fixed], #[angle] or #[int]",
            ));
        }
        found = Some((wire, attr));
    }
    Ok(found.map_or(Wire::Plain, |(w, _)| w))
}

/// Whether `#[state_hash(skip)]` is on a field.
pub fn hash_skipped(attrs: &[Attribute]) -> syn::Result<bool> {
    let mut skip = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("state_hash")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error("expected `skip`"))
            }
        })?;
    }
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words() {
        assert_eq!(snake_case("Avatar"), "avatar");
        assert_eq!(snake_case("ProjectileHit"), "projectile_hit");
        assert_eq!(snake_case("HTTPPing"), "http_ping");
        assert_eq!(snake_case("Player2Wins"), "player2_wins");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }
}
