//! `#[derive(Input)]`: a struct of named fields, each one declared input
//! field.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, LitStr, Type};

use crate::attrs::{self, MAX_BUTTONS, MAX_FIELDS};

/// How an input field is declared.
enum Kind {
    /// `#[axis(steps)]`.
    Axis(Expr),
    /// `#[angle(steps)]`.
    Angle(Expr),
    /// `#[buttons("a", "b")]`.
    Buttons(Vec<LitStr>),
    /// `#[int(min, max)]`.
    Int(Expr, Expr),
    /// A `bool` with no attribute: one button named after the field.
    Bool,
    /// An integer with no attribute: the type's range.
    Plain,
}

fn is_bool(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("bool"))
}

fn kind(attrs: &[Attribute], ty: &Type) -> syn::Result<Kind> {
    let mut found: Option<Kind> = None;
    for attr in attrs {
        let kind = if attr.path().is_ident("axis") {
            Kind::Axis(attr.parse_args()?)
        } else if attr.path().is_ident("angle") {
            Kind::Angle(attr.parse_args()?)
        } else if attr.path().is_ident("int") {
            let (min, max) = attrs::two_args(attr)?;
            Kind::Int(min, max)
        } else if attr.path().is_ident("buttons") {
            let names = attr.parse_args_with(
                syn::punctuated::Punctuated::<LitStr, syn::Token![,]>::parse_terminated,
            )?;
            if names.is_empty() || names.len() > MAX_BUTTONS {
                return Err(syn::Error::new_spanned(
                    attr,
                    format!("#[buttons(...)] names 1 to {MAX_BUTTONS} buttons"),
                ));
            }
            Kind::Buttons(names.into_iter().collect())
        } else {
            continue;
        };
        if found.is_some() {
            return Err(syn::Error::new_spanned(
                attr,
                "an input field takes one of #[axis], #[angle], #[buttons] or #[int]",
            ));
        }
        found = Some(kind);
    }
    Ok(found.unwrap_or(if is_bool(ty) { Kind::Bool } else { Kind::Plain }))
}

/// `#[derive(Input)]`.
pub fn input(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => n.named.iter().collect::<Vec<_>>(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(_) => {
                return Err(syn::Error::new(
                    ident.span(),
                    "#[derive(Input)] needs named fields: each is a named input field",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new(
                ident.span(),
                "#[derive(Input)] is for a struct with named fields",
            ));
        }
    };
    if fields.len() > MAX_FIELDS {
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "the input `{ident}` has {} fields; at most {MAX_FIELDS} fit on the wire",
                fields.len()
            ),
        ));
    }
    let (mut decls, mut reads, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, f) in fields.iter().enumerate() {
        let Some(field) = &f.ident else { continue };
        let name = attrs::field_name(field, &f.attrs)?;
        let ty = &f.ty;
        let sp = ty.span();
        let (decl, read, write) = match kind(&f.attrs, ty)? {
            Kind::Axis(steps) => (
                quote!(::tickwire_sim::InputKind::Axis { steps: #steps }),
                quote_spanned!(sp=> ::tickwire_sim::typed::axis_in::<#ty>(__values, #i, #steps)),
                quote_spanned!(sp=> ::tickwire_sim::typed::axis_out::<#ty>(self.#field, #steps)),
            ),
            Kind::Angle(steps) => (
                quote!(::tickwire_sim::InputKind::Angle { steps: #steps }),
                quote_spanned!(sp=> ::tickwire_sim::typed::angle_in::<#ty>(__values, #i, #steps)),
                quote_spanned!(sp=> ::tickwire_sim::typed::angle_out::<#ty>(self.#field, #steps)),
            ),
            Kind::Buttons(names) => {
                let count = names.len() as u32;
                (
                    quote! {
                        ::tickwire_sim::InputKind::Buttons {
                            names: ::std::vec![#(::std::string::String::from(#names)),*],
                        }
                    },
                    quote_spanned!(sp=> ::tickwire_sim::typed::buttons_in::<#ty>(__values, #i, #count)),
                    quote_spanned!(sp=> ::tickwire_sim::typed::buttons_out::<#ty>(self.#field, #count)),
                )
            }
            Kind::Bool => (
                quote! {
                    ::tickwire_sim::InputKind::Buttons {
                        names: ::std::vec![::std::string::String::from(#name)],
                    }
                },
                quote_spanned!(sp=> ::tickwire_sim::typed::buttons_in::<#ty>(__values, #i, 1)),
                quote_spanned!(sp=> ::tickwire_sim::typed::buttons_out::<#ty>(self.#field, 1)),
            ),
            Kind::Int(min, max) => (
                quote!(::tickwire_sim::InputKind::Int { min: #min, max: #max }),
                quote_spanned!(sp=> ::tickwire_sim::typed::int_in::<#ty>(__values, #i, #min, #max)),
                quote_spanned!(sp=> ::tickwire_sim::typed::int_out::<#ty>(self.#field, #min, #max)),
            ),
            Kind::Plain => (
                quote_spanned! {sp=>
                    ::tickwire_sim::typed::int_kind(<#ty as ::tickwire_sim::IntField>::QUANT)
                },
                quote_spanned! {sp=>
                    ::tickwire_sim::typed::plain_in::<#ty>(__values, #i)
                },
                quote_spanned! {sp=>
                    <#ty as ::tickwire_sim::IntField>::to_wire(self.#field)
                },
            ),
        };
        decls.push(quote! {
            ::tickwire_sim::InputDecl {
                name: ::std::string::String::from(#name),
                kind: #decl,
            }
        });
        reads.push(quote!(#field: #read));
        writes.push(quote!(__values[#i] = #write;));
    }
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let built = if fields.is_empty() {
        quote!(Self {})
    } else {
        quote!(Self { #(#reads),* })
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g ::tickwire_sim::Input for #ident #ty_g #where_g {
            fn fields() -> ::std::vec::Vec<::tickwire_sim::InputDecl> {
                ::std::vec![#(#decls),*]
            }

            #[inline]
            fn from_values(__values: &[i32; ::tickwire_sim::MAX_INPUT_FIELDS]) -> Self {
                let _ = __values;
                #built
            }

            #[inline]
            fn to_values(&self) -> [i32; ::tickwire_sim::MAX_INPUT_FIELDS] {
                #[allow(unused_mut)]
                let mut __values = [0i32; ::tickwire_sim::MAX_INPUT_FIELDS];
                #(#writes)*
                __values
            }
        }
    })
}
